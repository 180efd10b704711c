// A test image's only program: it says so and exits with a failure at once, as an app with
// a broken release would. The real-node tests use it to see CrashLoopBackOff from a kubelet.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "atrium test-crash: exiting with status 1 on purpose")
	os.Exit(1)
}

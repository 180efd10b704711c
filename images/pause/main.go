// The pod sandbox ("pause") image's only program: it holds the pod's namespaces open by
// doing nothing until it is told to stop, and reaps orphans when it is the pod's PID 1.
// Built here because no registry (registry.k8s.io included) is reachable on these machines.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 4)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range signals {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}

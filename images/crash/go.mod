module atrium.dev/crash

go 1.24

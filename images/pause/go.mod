module atrium.dev/pause

go 1.24

module local/netwebhook

go 1.22

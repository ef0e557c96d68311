module local/nettool

go 1.22

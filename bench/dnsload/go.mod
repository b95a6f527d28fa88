module sharpcni/bench/dnsload

go 1.19

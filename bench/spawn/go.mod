module sharpcni/bench/spawn

go 1.19

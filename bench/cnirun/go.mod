module sharpcni/bench/cnirun

go 1.19

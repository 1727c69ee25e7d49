@0xeab27ebf164b613d;
# Returns what it is given: for the `echoipc` RPC, tests and benchmarks.

interface Echo {
  echo @0 (data :Data) -> (data :Data);
}

// loadgen: see load-tests/FANOUT.md.
import ArgumentParser

LoadGen.main()

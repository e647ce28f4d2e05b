"""What the tests (checks) and the benchmarks (measurements) both build on, so that neither imports
the other: toy data and small trained pipelines (toy.py), tiny random BERTs written to a folder
(tiny_bert.py), and the reference scripts' loss (reference_loss.py). Not part of the package."""

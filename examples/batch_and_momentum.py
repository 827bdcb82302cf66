"""§3 Batch and momentum: batch size at equal epochs and equal updates, the critical batch size,
momentum over a ridge.

Runs the section's experiments (their code is in ``jaxtrain/lecture/batch_and_momentum.py``)
and writes each claim's figure into the output folder:

    python examples/batch_and_momentum.py --quick --out jaxtrain-out
"""

from jaxtrain.lecture import batch_and_momentum, run_example

if __name__ == "__main__":
    run_example(batch_and_momentum.SECTION)

"""§6 Batch normalization: input scales and the condition number, a deep net with and without it.

Runs the section's experiments (their code is in ``jaxtrain/lecture/batch_normalization.py``)
and writes each claim's figure into the output folder:

    python examples/batch_normalization.py --quick --out jaxtrain-out
"""

from jaxtrain.lecture import batch_normalization, run_example

if __name__ == "__main__":
    run_example(batch_normalization.SECTION)

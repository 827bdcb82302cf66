"""§6 Batch normalization: the same deep network with and without it, and what test time needs.

Runs the section's experiments (their code is in ``jaxtrain/lecture/batch_normalization.py``)
and writes each claim's figure into the output folder:

    python examples/batch_normalization.py --quick --out jaxtrain-out
"""

from jaxtrain.lecture import batch_normalization, run_example

if __name__ == "__main__":
    run_example(batch_normalization.SECTION)

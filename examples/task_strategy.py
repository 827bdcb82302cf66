"""§1 Task strategy: the flowchart's verdicts, what went wrong in one run, and augmentation.

Runs the section's experiments (their code is in ``jaxtrain/lecture/task_strategy.py``) and
writes each claim's figure into the output folder:

    python examples/task_strategy.py --quick --out jaxtrain-out
"""

from jaxtrain.lecture import run_example, task_strategy

if __name__ == "__main__":
    run_example(task_strategy.SECTION)

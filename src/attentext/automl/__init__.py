"""Choosing for the user: `tune` searches one recipe's settings (Optuna), `auto` chooses among
the recipes within a time budget.

`budget.py` durations; `spaces.py` a recipe's search space as Optuna suggestions; `tune.py` the
search (the only module that imports Optuna); `trials.py` the table of trials; `costs.py` what a
recipe costs on this data and this machine; `auto.py` the budgeted choice; `callbacks.py` the
Trainer callback that keeps a run within its time; `folders.py` the output folders both write.
"""

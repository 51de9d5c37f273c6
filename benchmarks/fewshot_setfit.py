"""The setfit library's side of benchmarks/fewshot.py, run in its own virtual environment.

attentext never depends on setfit: benchmarks/fewshot.py writes the sampled training texts and
the test split to a JSON file and runs this script with another Python, where setfit 1.2.0 is
installed (see benchmarks/fewshot.py for the set-up). Prints one JSON line: test accuracy,
training seconds, prediction seconds, versions.

    /work/venvs/setfit/bin/python benchmarks/fewshot_setfit.py job.json MODEL_FOLDER
"""

from __future__ import annotations

import json
import sys
import time


def main() -> None:
    job_path, model_path = sys.argv[1], sys.argv[2]
    with open(job_path, encoding="utf-8") as handle:
        job = json.load(handle)
    import numpy as np
    import setfit
    import torch
    import transformers
    from datasets import Dataset
    from setfit import SetFitModel, Trainer, TrainingArguments

    train = Dataset.from_dict({"text": job["train_texts"], "label": job["train_labels"]})
    model = SetFitModel.from_pretrained(model_path)
    args = TrainingArguments(
        batch_size=job["batch_size"],
        num_iterations=job["pair_iterations"],
        num_epochs=1,
        seed=job["seed"],
        save_strategy="no",  # nothing written: the run is measured, not kept
        report_to="none",
    )
    trainer = Trainer(model=model, args=args, train_dataset=train)
    start = time.perf_counter()
    trainer.train()
    train_seconds = time.perf_counter() - start
    start = time.perf_counter()
    predicted = np.asarray(model.predict(job["test_texts"], batch_size=64, as_numpy=True))
    predict_seconds = time.perf_counter() - start
    accuracy = float((predicted.astype(int) == np.asarray(job["test_labels"])).mean())
    print(
        json.dumps(
            {
                "test_accuracy": accuracy,
                "train_seconds": round(train_seconds, 2),
                "predict_seconds": round(predict_seconds, 2),
                "setfit": setfit.__version__,
                "transformers": transformers.__version__,
                "torch": torch.__version__,
                "torch_threads": torch.get_num_threads(),
            }
        )
    )


if __name__ == "__main__":
    main()

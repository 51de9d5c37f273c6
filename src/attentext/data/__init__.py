"""Data in: labelled splits for training and evaluation (`dataset.load_text_dataset` ->
`TextDataset`), texts to classify (`texts.load_texts`), each problem reported with its file and
row. Files are read by `readers`, labels mapped and checked by `labels`."""

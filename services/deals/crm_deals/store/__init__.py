"""Where the service's records live. `port.py` is what the use cases see; `store.py`
implements it once over the kit's records (`crm_kit.records`), so it runs on MongoDB
(`mongo.py`: the documents of `documents.py`, `model_documents.py` and
`keyed_documents.py` through the kit's write path) and in memory
(`memory.py`: the unit tests' fake database) alike; `indexed.py` (with `index_entry.py`,
`index_data.py`) is the embedded database's read model (the `ferretdb` profile only)."""

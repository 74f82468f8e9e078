"""Where the service's records live. `port.py` is what the use cases see; `store.py`
implements it once over the kit's records (`crm_kit.records`), so it runs on MongoDB
(`mongo.py`: the documents of `documents.py` through the kit's write path) and in memory
(`memory.py`: the unit tests' fake database) alike; `schedule.py` (the reminders' queue)
and `turns.py` (round-robin turns) are parts of it. `deal_lists.py` and `indexed.py` are
the embedded database's read models (the `ferretdb` profile only; `assemble.py`
chooses)."""

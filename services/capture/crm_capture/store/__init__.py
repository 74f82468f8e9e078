"""Where the service's records live, and what it asks of other services. `port.py` is
what the use cases see: the store (one implementation over the kit's records, `store.py`,
on MongoDB through `mongo.py` or in memory through `memory.py`), the directory of
contacts, companies and deals (the contacts and deals services over NATS request/reply,
`directory.py`) and the secret box for mailbox passwords (`secrets.py`)."""

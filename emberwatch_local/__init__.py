"""`emberwatch-local`: the production stand-ins (kinesis-local, moto, a real OpenSearch) on 127.0.0.1."""

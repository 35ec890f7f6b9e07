"""AWS adapters: the only modules that talk to AWS. Each takes its boto3 client as an argument."""

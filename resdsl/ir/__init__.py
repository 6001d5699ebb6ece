"""The intermediate representation every stage after the front end reads: the graph and its sizes."""

"""What ``plait.Retrieve`` runs on: the corpus reader, the two indexes, their content-keyed
folders on disk, and the retriever object that is a Retrieve node's step function."""

"""plait's IR: plans of typed nodes, their text form, their JSON form and their fingerprints."""

"""Files in and out: imports (one module per file kind), exports, FHIR, the codebook
and the clinic report."""

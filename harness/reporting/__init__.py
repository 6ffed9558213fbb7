"""What a run leaves for people and tools: results.json, the HTML report, JUnit, the matrix."""

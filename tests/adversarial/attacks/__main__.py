"""Print README.md's table of attacks, then every attack's name: ``python -m
tests.adversarial.attacks``."""

import json

from tests.adversarial.attacks import by_name, readme_table

print(readme_table(), end="")
print(json.dumps(sorted(by_name())))

"""Who an event affects (``rules.py`` over ``facts.py``, applied by ``affected.py``) and which
webhooks it goes to (``webhook_fanout.py``): ``Reaction``s, never rebuilt."""

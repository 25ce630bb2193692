"""What a Xero call is for, as the tenant rate governor counts it (``xerosync.xero.governor``).

Apart from the governor, so that code which only names a purpose (an API's use cases, their wiring) does not
load the governor with it: the expenses API's tabs and edits never call Xero (docs/architecture.md, "Cold start").
"""

FEEDS = "feeds"
INTERACTIVE = "interactive"  # a call made while a user waits for the answer (an HTTP route)
GENERAL = "general"

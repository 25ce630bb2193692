"""An emulator of Xero's OAuth 2.0, Accounting and Bank Feeds APIs for tests and the local demo.

    from emulators.xero import XeroEmulator
    emu = XeroEmulator()                 # strict: requests are checked against Xero's OpenAPI files
    base_url = emu.start()               # XERO_LOGIN_URL = XERO_IDENTITY_URL = XERO_API_URL = base_url
    tenant_id = emu.seed_organisation()  # a usable Business Edition organisation
    ...
    emu.stop()

See README.md beside this file for what is emulated and every choice made.
"""

from .config import EmulatorConfig
from .emulator import XeroEmulator
from .faults import Fault
from .state import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_REDIRECT_URI

__all__ = [
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "DEFAULT_REDIRECT_URI",
    "EmulatorConfig",
    "Fault",
    "XeroEmulator",
]

"""Microsoft 365 as sync's source and targets: Graph photos (``m365``, ``m365-photo``) and the
SharePoint Online copy (``m365-sharepoint``), through msal and httpx (no web framework here)."""

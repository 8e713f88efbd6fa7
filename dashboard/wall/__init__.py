"""The wall: what an unattended screen shows for a filter (`board`), its pictures (`charts`),
and the filters of the display links that open it without signing in (`filters`)."""

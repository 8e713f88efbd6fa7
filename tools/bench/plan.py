"""How much each phase of the benchmark asks, how fast, and the targets it is held to."""

LATENCY_MS = 150
RATE_LIMIT = 4
THREADS = 8
SAMPLES = 11  # odd, so the median is one real measurement
CONCURRENT_SAME = 30
DISTINCT_VIEWS = 60
PEOPLE = 20
# The dashboard lets at most 4 calls go per 1.1 s (its window plus margin). Starting one
# upstream-bound request every 0.35 s puts at most 4 in any 1.1 s, so the timed requests
# never wait for the budget and the sandbox never throttles them.
PACE = 0.35
# Direct calls and first views alternate at this pace: each first view also lets the dashboard
# fetch the next page in the background, and the direct script shares the store's limit.
FIRST_PACE = 0.5
# Long enough for the dashboard's and the sandbox's rate windows to empty between phases.
SETTLE = 1.3

DIRECT_TIMEOUT = 10
VIEW_TIMEOUT = 40  # a view may wait 20 s for its turn, and a `timeout` fault holds it 10 s
MESSAGE_TARGET = 12.0
RECOVERY_LIMIT = 15.0

TARGET_FIRST = 1.05
TARGET_REPEAT = 0.25
TARGET_LOAD_MORE = 0.25

# "Load more" after reading the first page this long, as a person does.
READING = 1.5

# People's first views of new filters while wall screens start counting theirs: six display
# links with distinct filters of many pages, one screen each, while a person opens a new filter
# every COUNTING_PERSON_EVERY seconds.
COUNTING_FILTERS = (
    "priority=low",
    "priority=medium",
    "channel=email",
    "channel=customer_account",
    "channel=dashboard",
    "channel=api",
)
COUNTING_SECONDS = 30
COUNTING_PERSON_EVERY = 1.5
TARGET_COUNTING_MEDIAN = 1.25
TARGET_COUNTING_WORST = 3.0

# Wall screens: three display links (one rotating two filters), two screens each, refreshing
# at the shortest allowed interval, while a few people browse beside them.
WALL_LINKS = (
    ("Room new+open", ["status=new&status=open"]),
    ("Room closed", ["status=closed&status=solved"]),
    ("Room rotating", ["priority=high", "status=pending"]),
)
WALL_SCREENS_PER_LINK = 2
WALL_REFRESH = 10
WALL_SECONDS = 45
WALL_PEOPLE = 4
WALL_PERSON_EVERY = 4.0
WALL_MAX_BEHIND = 60.0

# Names: a page of NAMES_PAGE_SIZE tickets whose requesters the dashboard does not know yet,
# viewed once and then asked for the names still waiting every NAMES_POLL seconds, as the
# page's script does, until NAMES_LIMIT. The page is the first of these filters (each listing
# 15 to 18 distinct customers in its first 20 tickets, none used by other phases) with at
# least NAMES_UNKNOWN requesters nobody has looked up yet.
NAMES_PAGE_SIZE = 20
NAMES_UNKNOWN = 15
NAMES_FILTERS = (
    "ticket_type=3&priority=medium",
    "priority=medium&channel=dashboard",
    "priority=medium&channel=customer_account",
)
NAMES_DIRECT = 5  # direct calls of the page's query, for their median
NAMES_POLL = 1.0
# A thread opened behind a backlog of customers waiting for their names (`backlog.py`): its
# names and titles asked for every THREAD_POLL s, for at most THREAD_LIMIT s.
THREAD_POLL = 0.5
THREAD_LIMIT = 20.0
TARGET_THREAD_SECONDS = 3.0
TARGET_NAMES_LOAD_MORE = 0.10  # "Load more" while a page's customers are still looked up
NAMES_LIMIT = 30.0
NAMES_SHARE = 0.9  # of the rows with a requester
TARGET_NAMES_FIRST = 1.15
TARGET_NAMES_SECONDS = 15.0
# Background work is done once the store has had no call for QUIET seconds.
QUIET = 1.5
QUIET_LIMIT = 60.0
# Every requester's name is known before the other phases, or this many seconds have passed:
# a minute's look-up budget and then some.
PRIME_POLL = 2.0
PRIME_LIMIT = 150.0

# The warnings a demanding user builds with: redstream's headers must pass them.
set(REDSTREAM_USER_WARNINGS -Wall -Wextra -Werror -pedantic)

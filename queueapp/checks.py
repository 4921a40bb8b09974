"""System checks: the Redis Lineup is given must keep the line.

Redis holds every line, position and ending. Without persistence a restart of Redis forgets
them all; with an eviction policy a full Redis drops keys of jobs still waiting. Both warn
on every management command; `manage.py check --deploy` refuses them. A Redis that cannot
be reached is not judged here (`/readyz` reports it).
"""

from django.core import checks
from redis import exceptions

from .store import get_store


def redis_durability_problems() -> list[str]:
    """What in the Redis server's settings would lose the line; empty if nothing."""
    try:
        found = get_store().server_settings(["appendonly", "save", "maxmemory-policy"])
    except (exceptions.ConnectionError, exceptions.TimeoutError):
        return []  # not reachable now: /readyz says so; this check is about its settings
    except exceptions.RedisError as error:  # CONFIG renamed or refused, as on some hosted Redis
        return [f"Redis's settings could not be read ({error}); check them by hand."]
    problems = []
    if found.get("appendonly") != "yes" and not found.get("save"):
        problems.append(
            "Redis keeps nothing on disk (no append-only file, no snapshots): a restart of "
            "Redis loses every line. Set `appendonly yes` (with `appendfsync everysec`)."
        )
    if found.get("maxmemory-policy", "noeviction") != "noeviction":
        problems.append(
            f"Redis's maxmemory-policy is {found['maxmemory-policy']}: when memory runs out "
            "it drops keys of jobs still waiting. Set `maxmemory-policy noeviction`."
        )
    return problems


@checks.register("redis")
def redis_durability(app_configs, **kwargs) -> list[checks.CheckMessage]:
    return [checks.Warning(problem, id="lineup.W001") for problem in redis_durability_problems()]


@checks.register("redis", deploy=True)
def redis_durability_deploy(app_configs, **kwargs) -> list[checks.CheckMessage]:
    return [checks.Error(problem, id="lineup.E001") for problem in redis_durability_problems()]

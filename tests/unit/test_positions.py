"""The position hub's arithmetic: each change applied once, in any order, replayed to latecomers."""

from queueapp.positions import RECENT_CHANGES, PositionHub, Waiter


class Visitor:
    def __init__(self):
        self.changed, self.left = [], []

    def position_changed(self, job_id):
        self.changed.append(job_id)

    def job_left_line(self, job_id):
        self.left.append(job_id)

    async def job_ended_unseen(self, demo, job_id):
        pass


def change(seq, left=(), back=(), why=""):
    return {
        "demo": "d",
        "seq": seq,
        "left": list(left),
        "back": list(back),
        "why": why,
        "avg_run": None,
        "avg_batch": None,
    }


def waiter(visitor, ticket, rank, seq):
    return Waiter(visitor, "d", ticket=ticket, rank=rank, seq=seq, config={})


def test_departures_ahead_move_a_waiter_up_and_its_own_removes_it():
    hub, me = PositionHub(), Visitor()
    hub.wait("j10", waiter(me, ticket=10, rank=3, seq=5))
    hub.advance(change(6, left=[7, 8]))
    assert hub.waiter("d", "j10").rank == 1
    hub.advance(change(7, left=[12]))  # behind me: no move
    assert hub.waiter("d", "j10").rank == 1
    hub.advance(change(8, left=[9, 10]))
    assert hub.waiter("d", "j10") is None
    assert me.left == ["j10"]


def test_changes_arriving_out_of_order_are_each_applied_once():
    hub, me = PositionHub(), Visitor()
    hub.wait("j", waiter(me, ticket=20, rank=5, seq=10))
    hub.advance(change(12, left=[15]))
    hub.advance(change(11, left=[14]))
    hub.advance(change(9, left=[13]))  # already counted in the rank read at seq 10
    assert hub.waiter("d", "j").rank == 3


def test_a_waiter_registered_late_replays_what_it_missed():
    hub, me = PositionHub(), Visitor()
    hub.advance(change(3, left=[1]))  # before my join: my rank excludes it
    hub.advance(change(5, left=[2]))  # after my join, before I was registered
    hub.wait("j", waiter(me, ticket=6, rank=3, seq=4))
    assert hub.waiter("d", "j").rank == 2


def test_a_latecomer_replays_only_the_changes_after_its_rank_whatever_order_they_came_in():
    hub, me = PositionHub(), Visitor()
    for seq, left in [(6, 2), (4, 1), (5, 3), (3, 0)]:  # two workers' broadcasts crossed
        hub.advance(change(seq, left=[left]))
    hub.wait("j", waiter(me, ticket=10, rank=5, seq=4))
    assert hub.waiter("d", "j").rank == 3  # seq 5 and 6 moved it; 3 and 4 were counted


def test_a_busy_line_keeps_a_bounded_history_of_its_latest_changes():
    hub = PositionHub()
    for seq in range(1, 3 * RECENT_CHANGES):
        hub.advance(change(seq, left=[seq]))
    kept = [c["seq"] for c in hub.recent["d"]]
    assert RECENT_CHANGES <= len(kept) <= 2 * RECENT_CHANGES
    assert kept == list(range(3 * RECENT_CHANGES - len(kept), 3 * RECENT_CHANGES))


def test_a_line_that_numbers_its_changes_again_from_the_start_forgets_the_old_ones():
    hub, me = PositionHub(), Visitor()
    for seq in range(1000, 1010):
        hub.advance(change(seq, left=[seq - 1000]))  # tickets 0 to 9 left, long ago
    hub.advance(change(1, left=[1]))  # Redis lost the line: seq and tickets start again
    hub.wait("j", waiter(me, ticket=5, rank=3, seq=0))
    assert hub.waiter("d", "j").rank == 2  # moved by the new change alone


def test_a_job_that_started_before_registration_is_not_left_waiting():
    hub, me = PositionHub(), Visitor()
    hub.advance(change(5, left=[6]))
    hub.wait("j", waiter(me, ticket=6, rank=0, seq=4))
    assert hub.waiter("d", "j") is None
    assert me.left == ["j"]


def test_a_requeued_job_ahead_moves_a_waiter_back():
    hub, me = PositionHub(), Visitor()
    hub.wait("j", waiter(me, ticket=9, rank=0, seq=1))
    hub.advance(change(2, back=[4, 5]))
    assert hub.waiter("d", "j").rank == 2


def test_a_waiter_pushed_back_knows_why_and_one_ahead_of_the_newcomer_does_not_move():
    hub, me, first = PositionHub(), Visitor(), Visitor()
    hub.wait("j10", waiter(me, ticket=10, rank=3, seq=5))
    hub.wait("j2", waiter(first, ticket=2, rank=0, seq=5))
    hub.advance(change(6, back=[4], why="priority"))  # a heavier lane's job joins at 4
    assert hub.waiter("d", "j10").rank == 4
    assert hub.waiter("d", "j10").pushed_back == "priority"
    assert hub.waiter("d", "j2").rank == 0 and first.changed == []
    hub.advance(change(7, back=[1]))  # a job whose worker died comes back at the front
    assert hub.waiter("d", "j2").pushed_back == "requeued"


def test_the_room_other_lanes_have_ahead_shrinks_as_a_waiter_nears_the_head():
    hub, me = PositionHub(), Visitor()
    mine = waiter(me, ticket=50, rank=10, seq=1)
    mine.room = 40
    hub.wait("j50", mine)
    hub.advance(change(2, left=[1, 2, 3, 4, 5]))  # half of the way to the head
    assert (mine.rank, mine.room) == (5, 20)
    hub.advance(change(3, back=[6, 7], why="priority"))  # two of that room used
    assert (mine.rank, mine.room) == (7, 18)
    hub.advance(change(4, left=[6, 7, 8, 9, 10, 11, 12]))  # next in line: no room left
    assert (mine.rank, mine.room) == (0, 0)

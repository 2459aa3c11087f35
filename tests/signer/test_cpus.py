"""Which CPU the request path is pinned to (signer.cpus): the one taking the device interrupts."""

from __future__ import annotations

from tillit.signer.cpus import device_interrupt_cpu

# The shape of /proc/interrupts on the bench host: the disk's queue (36) goes to CPU1 only.
BENCH_HOST = """\
           CPU0       CPU1
  1:          9          0   IO-APIC   1-edge      i8042
 36:          0    2894564   PCI-MSIX-0000:00:02.0   1-edge      virtio1-req.0
NMI:          0          0   Non-maskable interrupts
LOC:    1167950    1263376   Local timer interrupts
RES:    1608665     928757   Rescheduling interrupts
ERR:          0
"""


def test_the_cpu_taking_the_disks_interrupts_is_chosen_not_the_one_with_most_timer_ticks() -> None:
    assert device_interrupt_cpu(BENCH_HOST, frozenset({0, 1})) == 1


def test_only_cpus_the_process_may_use_are_chosen() -> None:
    assert device_interrupt_cpu(BENCH_HOST, frozenset({0})) == 0  # CPU0 took the keyboard's 9


def test_no_device_interrupts_or_no_table_choose_nothing() -> None:
    quiet = "           CPU0       CPU1\nLOC:         10         12   Local timer interrupts\n"
    assert device_interrupt_cpu(quiet, frozenset({0, 1})) is None
    assert device_interrupt_cpu("", frozenset({0, 1})) is None
    assert device_interrupt_cpu(BENCH_HOST, frozenset({2, 3})) is None


def test_more_cpus_than_columns_on_a_short_line_are_not_a_problem() -> None:
    table = "           CPU0       CPU1       CPU2\n 40:          5          7\n 41:          1\n"
    assert device_interrupt_cpu(table, frozenset({0, 1, 2})) == 1

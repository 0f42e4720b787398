/*
 * wrun-bench-workload: the program `wrun bench` runs INSIDE each isolation
 * level, so that the cost of a system call is timed where the call is made
 * (a host-side clock would add the start-up of the container to every
 * number). Built static (no loader, no libraries in the image needed) by
 * benches/build.rs.
 *
 *   wrun-bench-workload syscalls [quick]   (argv[0] must be a path to this
 *                                          program: it is opened and stat-ed)
 *                                          print "WRUNBENCH name value unit"
 *                                          lines, one per measurement, or
 *                                          "WRUNBENCH name error text"
 *   wrun-bench-workload http PORT          serve a fixed 13-byte HTTP reply,
 *                                          keep-alive, one process per
 *                                          connection
 *   wrun-bench-workload true               exit 0 at once
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void report(const char *name, double value, const char *unit) {
    printf("WRUNBENCH %s %.1f %s\n", name, value, unit);
}

static void report_error(const char *name, const char *what, int err) {
    printf("WRUNBENCH %s error %s: %s\n", name, what, strerror(err));
}

/* getpid through syscall(2): glibc no longer caches it, but this makes the
 * kernel entry explicit. */
static void bench_getpid(long n) {
    double t0 = now_ns();
    for (long i = 0; i < n; i++)
        syscall(SYS_getpid);
    report("getpid", (now_ns() - t0) / n, "ns");
}

static void bench_open_close(const char *path, long n) {
    double t0 = now_ns();
    for (long i = 0; i < n; i++) {
        int fd = openat(AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            report_error("openat_close", path, errno);
            return;
        }
        close(fd);
    }
    report("openat_close", (now_ns() - t0) / n, "ns");
}

static void bench_stat(const char *path, long n) {
    struct stat st;
    double t0 = now_ns();
    for (long i = 0; i < n; i++) {
        if (stat(path, &st) != 0) {
            report_error("stat", path, errno);
            return;
        }
    }
    report("stat", (now_ns() - t0) / n, "ns");
}

/* A container started without networking has a loopback device that is
 * down; bring it up when we are allowed to (ignored otherwise: the connect
 * then reports why it failed). */
static void loopback_up(void) {
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strcpy(ifr.ifr_name, "lo");
    if (ioctl(s, SIOCGIFFLAGS, &ifr) == 0 && !(ifr.ifr_flags & IFF_UP)) {
        ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
        ioctl(s, SIOCSIFFLAGS, &ifr);
    }
    close(s);
}

/* socket + connect to a listener on 127.0.0.1 + accept + both closes. */
static void bench_connect(long n) {
    loopback_up();
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (l < 0) {
        report_error("tcp_connect", "socket", errno);
        return;
    }
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof a;
    if (bind(l, (struct sockaddr *)&a, sizeof a) != 0 || listen(l, 64) != 0 ||
        getsockname(l, (struct sockaddr *)&a, &alen) != 0) {
        report_error("tcp_connect", "bind/listen on 127.0.0.1", errno);
        close(l);
        return;
    }
    double t0 = now_ns();
    for (long i = 0; i < n; i++) {
        int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (c < 0) {
            report_error("tcp_connect", "socket", errno);
            close(l);
            return;
        }
        if (connect(c, (struct sockaddr *)&a, sizeof a) != 0) {
            report_error("tcp_connect", "connect to 127.0.0.1", errno);
            close(c);
            close(l);
            return;
        }
        int s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
        if (s >= 0)
            close(s);
        close(c);
    }
    report("tcp_connect", (now_ns() - t0) / n, "ns");
    close(l);
}

/* Write 64 MiB to a file in 1 MiB blocks, read it back, remove it: the
 * file-system path of the isolation (overlay, gofer, guest tmpfs). */
static void bench_write_read(const char *dir, long mib) {
    char path[256];
    snprintf(path, sizeof path, "%s/wrun-bench-%d.dat", dir, (int)getpid());
    static char block[1 << 20];
    memset(block, 0x5a, sizeof block);
    double t0 = now_ns();
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        report_error("write_read_64mib", path, errno);
        return;
    }
    for (long i = 0; i < mib; i++) {
        if (write(fd, block, sizeof block) != (ssize_t)sizeof block) {
            report_error("write_read_64mib", "write", errno);
            close(fd);
            unlink(path);
            return;
        }
    }
    if (lseek(fd, 0, SEEK_SET) != 0) {
        report_error("write_read_64mib", "lseek", errno);
        close(fd);
        unlink(path);
        return;
    }
    for (long i = 0; i < mib; i++) {
        if (read(fd, block, sizeof block) != (ssize_t)sizeof block) {
            report_error("write_read_64mib", "read", errno);
            close(fd);
            unlink(path);
            return;
        }
    }
    close(fd);
    unlink(path);
    report("write_read_64mib", (now_ns() - t0) / 1e6, "ms");
}

static int syscalls(const char *self, int quick) {
    long scale = quick ? 1 : 5;
    bench_getpid(40000 * scale);
    bench_open_close(self, 4000 * scale);
    bench_stat(self, 4000 * scale);
    bench_connect(400 * scale);
    struct stat st;
    bench_write_read(stat("/tmp", &st) == 0 ? "/tmp" : "/", 64);
    fflush(stdout);
    return 0;
}

static const char REPLY[] =
    "HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\nhello, world\n";

static void serve_connection(int c) {
    char buf[8192];
    size_t have = 0;
    for (;;) {
        ssize_t r = read(c, buf + have, sizeof buf - have - 1);
        if (r <= 0)
            return;
        have += (size_t)r;
        buf[have] = 0;
        char *end;
        /* Answer every complete request in the buffer (wrk pipelines none,
         * but a client may). */
        while ((end = strstr(buf, "\r\n\r\n")) != NULL) {
            if (write(c, REPLY, sizeof REPLY - 1) < 0)
                return;
            size_t used = (size_t)(end + 4 - buf);
            memmove(buf, buf + used, have - used + 1);
            have -= used;
        }
        if (have >= sizeof buf - 1)
            return;
    }
}

static int http(int port) {
    signal(SIGCHLD, SIG_IGN);
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)port);
    a.sin_addr.s_addr = htonl(INADDR_ANY);
    if (bind(l, (struct sockaddr *)&a, sizeof a) != 0 || listen(l, 128) != 0) {
        fprintf(stderr, "wrun-bench-workload: bind/listen on port %d: %s\n", port,
                strerror(errno));
        return 1;
    }
    fprintf(stderr, "wrun-bench-workload: serving on port %d\n", port);
    for (;;) {
        int c = accept4(l, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0) {
            if (errno == EINTR)
                continue;
            return 1;
        }
        setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        pid_t p = fork();
        if (p == 0) {
            close(l);
            serve_connection(c);
            _exit(0);
        }
        close(c);
    }
}

int main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "syscalls") == 0)
        return syscalls(argv[0], argc >= 3 && strcmp(argv[2], "quick") == 0);
    if (argc >= 3 && strcmp(argv[1], "http") == 0)
        return http(atoi(argv[2]));
    if (argc >= 2 && strcmp(argv[1], "true") == 0)
        return 0;
    fprintf(stderr, "usage: wrun-bench-workload syscalls [quick] | http PORT | true\n");
    return 2;
}

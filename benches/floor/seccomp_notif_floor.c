/* The kernel's floor for a trapped system call on this machine: one thread
 * opens a file 20,000 times natively, then under a filter that sends openat
 * to a user-notification listener whose supervisor thread answers CONTINUE
 * at once (no reading, no decision). Argument "sync" sets
 * SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP. Build and run as root:
 *   gcc -O2 -o /tmp/notif-floor benches/floor/seccomp_notif_floor.c -lpthread
 *   /tmp/notif-floor; /tmp/notif-floor sync
 * It says what any supervisor, ours included, cannot go below. */
#define _GNU_SOURCE
#include <linux/seccomp.h>
#include <linux/filter.h>
#include <linux/audit.h>
#include <sys/syscall.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <time.h>
#include <stddef.h>
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP 1
#endif
#define SET_FLAGS 0x40082104
static int lfd;
static int sync_flag;
static void *sup(void *a) {
  struct seccomp_notif req; struct seccomp_notif_resp resp;
  for (;;) {
    memset(&req, 0, sizeof req);
    if (ioctl(lfd, SECCOMP_IOCTL_NOTIF_RECV, &req) < 0) continue;
    memset(&resp, 0, sizeof resp);
    resp.id = req.id; resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
    ioctl(lfd, SECCOMP_IOCTL_NOTIF_SEND, &resp);
  }
  return 0;
}
static double now(){struct timespec t; clock_gettime(CLOCK_MONOTONIC,&t); return t.tv_sec*1e9+t.tv_nsec;}
int main(int argc, char **argv) {
  sync_flag = argc > 1;
  int n = 20000;
  double t0 = now();
  for (int i=0;i<n;i++){int fd=openat(AT_FDCWD,"/etc/hostname",O_RDONLY); close(fd);} 
  double native=(now()-t0)/n;
  struct sock_filter f[] = {
    BPF_STMT(BPF_LD|BPF_W|BPF_ABS, offsetof(struct seccomp_data, nr)),
    BPF_JUMP(BPF_JMP|BPF_JEQ|BPF_K, __NR_openat, 0, 1),
    BPF_STMT(BPF_RET|BPF_K, SECCOMP_RET_USER_NOTIF),
    BPF_STMT(BPF_RET|BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog p = {4, f};
  prctl(PR_SET_NO_NEW_PRIVS,1,0,0,0);
  lfd = syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &p);
  if (lfd < 0) { perror("seccomp"); return 1; }
  if (sync_flag && ioctl(lfd, SET_FLAGS, SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP) < 0) perror("set_flags");
  pthread_t t; pthread_create(&t,0,sup,0);
  usleep(10000);
  t0 = now();
  for (int i=0;i<n;i++){int fd=openat(AT_FDCWD,"/etc/hostname",O_RDONLY); close(fd);} 
  double trapped=(now()-t0)/n;
  printf("sync=%d native %.2f us, trapped CONTINUE %.2f us, ratio %.1f\n", sync_flag, native/1000, trapped/1000, trapped/native);
  return 0;
}

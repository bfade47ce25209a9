/*
 * pause: the sandbox ("infra") container of the CRI tests' pods, as Kubernetes' own pause image
 * does: hold the pod's namespaces, reap orphans, end at once on SIGINT or SIGTERM. Built with
 * `gcc -static` and packed as the image containerd's `sandbox_image` names by
 * sysallow/tests/e2e/common/cri/ (there is no registry to pull registry.k8s.io/pause from).
 */
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void on_term(int sig) { (void)sig; _exit(0); }

static void on_child(int sig) {
    (void)sig;
    while (waitpid(-1, NULL, WNOHANG) > 0) {}
}

int main(void) {
    struct sigaction term, child;
    memset(&term, 0, sizeof term);
    term.sa_handler = on_term;
    memset(&child, 0, sizeof child);
    child.sa_handler = on_child;
    child.sa_flags = SA_NOCLDSTOP | SA_RESTART;
    if (sigaction(SIGINT, &term, NULL) != 0 || sigaction(SIGTERM, &term, NULL) != 0 ||
        sigaction(SIGCHLD, &child, NULL) != 0)
        return 1;
    for (;;) pause();
}

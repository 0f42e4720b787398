"""The race: one thread flips /lab/work/flip between an allowed file and the
secret while the main thread opens it, for a few seconds.

A naive supervisor checks the path, then lets the kernel open it
(CONTINUE): between the two the flipper may swap the link, and the secret
leaks. wrun's supervisor opens the file itself, on what it checked: zero
leaks. Prints the counts.
"""
import os
import sys
import threading
import time

WORK = "/lab/work"
SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 5.0

os.makedirs(WORK, exist_ok=True)
with open(f"{WORK}/allowed", "w") as f:
    f.write("public")
with open(f"{WORK}/secret", "w") as f:
    f.write("TOP-SECRET")

stop = False


def flipper():
    i = 0
    while not stop:
        tmp = f"{WORK}/flip.tmp"
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        os.symlink("allowed" if i % 2 == 0 else "secret", tmp)
        os.replace(tmp, f"{WORK}/flip")
        i += 1


t = threading.Thread(target=flipper)
t.start()
opens = leaks = denied = 0
end = time.monotonic() + SECONDS
while time.monotonic() < end:
    try:
        with open(f"{WORK}/flip") as f:
            data = f.read()
        opens += 1
        if data == "TOP-SECRET":
            leaks += 1
    except PermissionError:
        denied += 1
    except FileNotFoundError:
        pass
stop = True
t.join()
print(f"opens={opens} denied={denied} leaks={leaks}")
print("the secret LEAKED" if leaks else "the secret stayed secret")

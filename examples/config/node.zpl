#   node.zpl - a small node: two actors, a process pool, a service with two
#   routes and a nested supervisor. docs/config.md describes every key.
#
#       TROUPE_LOAD_PATH=build troupe run examples/config/node.zpl
#
#   The behaviours (greeter, counter, echo) come from the demo module,
#   examples/config/demo_actors.c, built as libtroupe_demo_actors.so next to
#   the troupe program; TROUPE_LOAD_PATH says where to look for it.

load = "libtroupe_demo_actors.so"

node
    name = demo
    threads = 2
    mailbox_limit = 10000
    overflow = fail
    max_payload = 1M
    stop_timeout_ms = 3000
    loops = 1
    dedicated_threads = 2

supervisor
    strategy = one_for_one
    intensity = 5                   #   restarts allowed ...
    period_ms = 10000               #   ... within 10 s
    backoff_ms = 20
    backoff_max_ms = 2000

    actor = greeter                 #   the child's id
        behaviour = greeter
        name = greeter              #   tr_whereis (rt, "greeter")
        arg = "hello"               #   init gets "hello" and its NUL

    actor = counter
        behaviour = counter
        name = counter
        restart = transient

    pool = echoes                   #   echo in 2 child processes
        behaviour = echo
        name = echoes
        replicas = 2
        spares = 0
        memory_limit = 256M
        heartbeat_ms = 100
        heartbeat_timeout_ms = 2000

    service = echo                  #   echo behind a router
        behaviour = echo
        name = echo
        route = echo
            mode = thread
            replicas = 2
            balance = round_robin
            deadline_ms = 1000
            max_in_flight = 64
            overflow = queue
            queue_limit = 256
        route = "*"                 #   every other type
            mode = process
            deadline_ms = 5000
        process
            spares = 0
            max_retries = 2

    supervisor = workers
        strategy = rest_for_one
        intensity = 3
        period_ms = 5000
        actor = tally
            behaviour = counter
            name = tally

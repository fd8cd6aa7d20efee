#   router.zpl - the service of router.c, as a config file (docs/config.md)
#
#   One service, "demo", of the behaviour demo.worker: `status` on two
#   instances on the scheduler threads, `compute` in a pool of two child
#   processes, `fetch` on the async loop. The program that loads this file
#   must have registered demo.worker first (before the runtime is created,
#   since compute runs in processes), or name a shared object that does in
#   a `load` line. See docs/routing.md for every key of a route.

node
    name = router
    threads = 2             #   troupe-0, troupe-1
    loops = 1               #   troupe-loop-0, for the async route

supervisor
    strategy = one_for_one
    service = demo
        behaviour = demo.worker
        name = demo                 #   the router's registered name
        restart_intensity = 10      #   instance restarts in 10 s, then it gives up
        route = status
            mode = thread
            replicas = 2            #   round robin, the default balance
        route = compute
            mode = process
            replicas = 2            #   the pool's children; it balances them
            deadline_ms = 5000
            max_in_flight = 8
            overflow = queue        #   past 8 in flight: wait in the router
            queue_limit = 64        #   past 64 waiting: TR_EAGAIN
        route = fetch
            mode = async
            deadline_ms = 2000

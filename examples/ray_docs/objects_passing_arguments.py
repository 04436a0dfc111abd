"""Objects guide (001): top-level refs are resolved, nested refs are passed as refs."""

import ray


@ray.remote
def echo(a: int, b: int, c: int):
    """This function prints its input values to stdout."""
    print(a, b, c)


# Passing the literal values (1, 2, 3) to `echo`.
echo.remote(1, 2, 3)
# -> prints "1 2 3"

# Put the values (1, 2, 3) into Ray's object store.
a, b, c = ray.put(1), ray.put(2), ray.put(3)

# Passing an object as a top-level argument to `echo`. Ray will de-reference top-level
# arguments, so `echo` will see the literal values (1, 2, 3) in this case as well.
echo.remote(a, b, c)
# -> prints "1 2 3"


@ray.remote
def echo_and_get(x_list):  # List[ObjectRef]
    """This function prints its input values to stdout."""
    print("args:", x_list)
    print("values:", ray.get(x_list))


# Put the values (1, 2, 3) into Ray's object store.
a, b, c = ray.put(1), ray.put(2), ray.put(3)

# Passing an object as a nested argument to `echo_and_get`. Ray does not
# de-reference nested args, so `echo_and_get` sees the references.
echo_and_get.remote([a, b, c])
# -> prints args: [ObjectRef(...), ObjectRef(...), ObjectRef(...)]
#           values: [1, 2, 3]

@ray.remote  # nbray: the docs leave `Actor` undefined
class Actor:  # nbray: an actor that shows what it was given
    def __init__(self, arg):  # nbray: (the docs leave `Actor` undefined)
        print("actor got", arg)  # nbray: (the docs leave `Actor` undefined)

    def method(self, arg):  # nbray: (the docs leave `Actor` undefined)
        print("method got", arg)  # nbray: (the docs leave `Actor` undefined)


obj = ray.put("obj")  # nbray: the docs leave `obj` undefined

# Examples of passing objects to actor constructors.
actor_handle = Actor.remote(obj)  # by-value
actor_handle = Actor.remote([obj])  # by-reference

# Examples of passing objects to actor method calls.
actor_handle.method.remote(obj)  # by-value
actor_handle.method.remote([obj])  # by-reference

# Put the values (1, 2, 3) into Ray's object store.
a, b, c = ray.put(1), ray.put(2), ray.put(3)


@ray.remote
def print_via_capture():
    """This function prints the values of (a, b, c) to stdout."""
    print(ray.get([a, b, c]))


# Passing object references via closure-capture. Inside the `print_via_capture`
# function, the global object refs (a, b, c) can be retrieved and printed.
print_via_capture.remote()
# -> prints [1, 2, 3]

# Objects can be nested within each other. Ray will keep the inner object
# alive via reference counting until all outer object references are deleted.
object_ref = ray.put(1)  # nbray: the docs define object_ref in an earlier snippet
object_ref_2 = ray.put([object_ref])
print("nested:", ray.get(ray.get(object_ref_2)[0]))  # nbray: show the inner value

# nbray: the snippets above fire tasks and forget them; a script that ends drops pending work
# nbray: (as Ray does), so wait until no task is left before ending, to see all they print.
while ray.events.snapshot().tasks:  # nbray: wait for the tasks above
    ray.events.snapshot()  # nbray: wait for the tasks above

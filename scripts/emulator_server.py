"""The local AWS emulator: moto's server with every request handled one at a time.

moto's DynamoDB is not safe under concurrent requests: a TransactWriteItems that fails
restores a snapshot of the whole table taken when it started, erasing writes that other
transactions committed in the meantime (a lost update the real service never makes). The
real service is atomic and isolated per transaction; serialising requests gives the
emulator that property, so concurrency tests test our code, not moto's threading.
Connections are still accepted concurrently.

moto also deep-copies every table a transaction touches before it starts, so a transaction
costs time in proportion to the table's size. With requests serialised, saving and restoring
only the items the transaction writes is equivalent, and keeps transactions cheap on big
tables (a true-up over hundreds of reservations, the benchmarks).

moto answers a query of one partition by walking every item of the table (a 36,000-item
table: 200 ms a query), and a query of a range of it by sorting and walking the whole
partition (30,000 events: 150 ms for a page of 50); here it walks that partition's items
only (for a global index, the items each of its partitions holds are kept as writes move
them, from the first query of it on), and for a range of a string sort key (the table's or a local index's) it bisects the
partition's items kept sorted until a write touches the partition, and hands moto only the
page (the same results): benchmarks over large tables measure our requests, as DynamoDB's
cost does, rather than the walk.

moto's SQS walks the whole queue several times per message sent (it computes every queue
attribute, counts included, to read one that only FIFO queues have) and per message deleted,
and asks the date library for "now" for each message it looks at: with ten thousand messages
queued (a true-up of ten thousand agreements) one batch took seconds. Here a standard queue's
send and a receive skip the attribute walk, a delete stops at the message it deletes, and "now" is the
clock's: the same answers, in time that does not grow with the queue's length squared.

moto's GetRecords writes each record through the service's model, attribute by attribute (a
millisecond a record, with the emulator held); its records are already the service's JSON,
so here they are written as they are.

`GET /_busy` answers how long requests held the emulator, by operation (the benchmarks).

For failure drills, `/_drill/*` holds one DynamoDB request: `POST /_drill/hold?target=T&match=M`
arms it for the next request whose X-Amz-Target contains T and whose body contains M; that
request is handled (committed, for a write) and its response then withheld until
`POST /_drill/release`; `GET /_drill/held` says whether it is being held. A drill kills the
caller in that window: the change is made, the caller never learns it.
"""
import argparse
import bisect
import calendar
import copy
import io
import json
import signal
import sys
import threading
import time

from werkzeug.serving import run_simple
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.exceptions import (
    ConditionalCheckFailed,
    MockValidationException,
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Item, Table
from moto.dynamodbstreams.responses import DynamoDBStreamsHandler
from moto.sqs.exceptions import ReceiptHandleIsInvalid
from moto.sqs.models import Message, Queue, SQSBackend


def _key_of(backend, op_type, op):
    if op_type == "Put":
        table = backend.get_table(op["TableName"])
        attrs = op["Item"]
        key = {table.hash_key_attr: attrs[table.hash_key_attr]}
        if table.range_key_attr is not None:
            key[table.range_key_attr] = attrs[table.range_key_attr]
        return key
    return op["Key"]


def transact_write_items(self, transact_items):
    """moto's TransactWriteItems with an item-level undo instead of whole-table copies."""
    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    undo = []  # (table name, key, previous item as attributes or None)
    seen = set()
    errors = []

    def rollback():
        for table_name, key, before in reversed(undo):
            if before is None:
                if self.get_item(table_name, key) is not None:
                    self.delete_item(table_name, key)
            else:
                self.put_item(table_name, before)

    for item in transact_items:
        if len(list(item.keys())) > 1:
            raise TransactWriteSingleOpException
        original_item = None
        try:
            op_type, op = next(iter(item.items()))
            if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                raise ValueError("Unsupported transaction operation")
            table_name = op["TableName"]
            key = _key_of(self, op_type, op)
            marker = (str(table_name), str(dict(sorted(key.items()))))
            if marker in seen:
                raise MultipleTransactionsException()
            seen.add(marker)
            condition = op.get("ConditionExpression")
            names = op.get("ExpressionAttributeNames")
            values = op.get("ExpressionAttributeValues")
            current = self.get_item(table_name, key)
            if condition is not None:
                check = get_filter_expression(condition, names, values)
                if not check.expr(current):
                    if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                        original_item = current.to_json()["Attributes"]
                    raise ConditionalCheckFailed(item=original_item)
            if op_type != "ConditionCheck":
                undo.append((table_name, key, copy.deepcopy(current.to_json()["Attributes"]) if current else None))
            if op_type == "Put":
                self.put_item(table_name, op["Item"], condition_expression=condition,
                              expression_attribute_names=names, expression_attribute_values=values)
            elif op_type == "Delete":
                self.delete_item(table_name, key, condition_expression=condition,
                                 expression_attribute_names=names, expression_attribute_values=values)
            elif op_type == "Update":
                self.update_item(table_name, key, update_expression=op["UpdateExpression"],
                                 condition_expression=condition, expression_attribute_names=names,
                                 expression_attribute_values=values)
            errors.append((None, None, None))
        except (MultipleTransactionsException, MockValidationException):
            rollback()
            raise
        except ConditionalCheckFailed as e:
            errors.append(("ConditionalCheckFailed", str(e.message), original_item))
        except Exception as e:  # noqa: BLE001 - reported per item, as moto does
            errors.append((type(e).__name__, str(e), original_item))
    if any(code is not None for code, _, _ in errors):
        rollback()
        raise TransactionCanceledException(errors)


DynamoDBBackend.transact_write_items = transact_write_items

_table_query = Table.query

# A large partition's items sorted by a queried attribute are kept until a write touches the
# partition, which drops them. Only large partitions are kept (a small one sorts in no time),
# and only the most recently sorted few: tests come and go with tables of their own, and what
# is kept holds its items in memory. Each entry holds its table, so no other table can take
# that table's id while the entry lives.
_sorted = {}
_KEEP_FROM = 256
_KEEP_AT_MOST = 16
_RANGE = {"BETWEEN", "BEGINS_WITH", "=", "EQ", "<", "LT", "<=", "LE", ">", "GT", ">=", "GE"}


def _touch(table, hash_value):
    """A write to the partition: what was kept sorted of it is gone."""
    for key in [k for k in _sorted if k[:2] == (id(table), hash_value)]:
        del _sorted[key]


# A global index's partitions: which items each holds, by (index, hash value), kept per table
# once a query of one of its global indexes first needs it (one walk of the table), then
# moved on by every write, so that such a query walks its partition's items only.
def _gsi_hashes(table):
    """Each global index's name and the attribute its partitions are keyed by."""
    out = []
    for index in table.global_indexes:
        hashes = [k["AttributeName"] for k in index.schema if k["KeyType"] == "HASH"]
        if len(hashes) == 1:
            out.append((index.name, hashes[0]))
    return out


def _gsi_entries(table, item):
    if item is None:
        return []
    return [(name, item.attrs[attr]) for name, attr in _gsi_hashes(table) if attr in item.attrs]


def _gsi_move(table, before, after):
    """The membership after a write that replaced `before` with `after` (either may be None)."""
    members = table.__dict__.get("_gsi_members")
    if members is None:
        return
    for entry in _gsi_entries(table, before):
        members.get(entry, {}).pop((before.hash_key, before.range_key), None)
    for entry in _gsi_entries(table, after):
        members.setdefault(entry, {})[(after.hash_key, after.range_key)] = True


def _gsi_members(table):
    members = table.__dict__.get("_gsi_members")
    if members is None:
        members = {}
        for item in Table.all_items(table):
            if isinstance(item, Item):
                for entry in _gsi_entries(table, item):
                    members.setdefault(entry, {})[(item.hash_key, item.range_key)] = True
        table._gsi_members = members
    return members


def _stored(table, hash_key, range_key):
    try:
        return table.items[hash_key][range_key] if range_key is not None else table.items[hash_key]
    except KeyError:
        return None


def _wrap_table_write(name, hash_of):
    original = getattr(Table, name)

    def wrapped(self, *args, **kwargs):
        _touch(self, hash_of(self, *args, **kwargs))
        before = _current(self, name, *args, **kwargs)
        result = original(self, *args, **kwargs)
        if name == "put_item":
            _gsi_move(self, before, result)
        elif result is not None:
            _gsi_move(self, result, None)
        return result

    setattr(Table, name, wrapped)


def _current(table, name, *args, **kwargs):
    """The item a put is about to replace (a delete returns what it removed)."""
    if name != "put_item" or "_gsi_members" not in table.__dict__:
        return None
    attrs = args[0] if args else kwargs["item_attrs"]
    hash_value = DynamoType(attrs[table.hash_key_attr])
    range_value = DynamoType(attrs[table.range_key_attr]) if table.range_key_attr else None
    return _stored(table, hash_value, range_value)


def _put_hash(self, item_attrs, *args, **kwargs):
    return DynamoType(item_attrs[self.hash_key_attr])


def _delete_hash(self, hash_key, *args, **kwargs):
    return hash_key


_wrap_table_write("put_item", _put_hash)
_wrap_table_write("delete_item", _delete_hash)
_backend_update_item = DynamoDBBackend.update_item


def update_item(self, table_name, key, *args, **kwargs):
    table = self.get_table(table_name)
    hash_value = DynamoType(key[table.hash_key_attr])
    range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
    _touch(table, hash_value)
    tracked = "_gsi_members" in table.__dict__
    before = copy.copy(_stored(table, hash_value, range_value)) if tracked else None
    if before is not None:
        before.attrs = dict(before.attrs)
    result = _backend_update_item(self, table_name, key, *args, **kwargs)
    if tracked:
        _gsi_move(table, before, _stored(table, hash_value, range_value))
    return result


DynamoDBBackend.update_item = update_item


def _sorted_partition(table, hash_key, attr):
    """The partition's items that have `attr` (a string), sorted by it (then by the sort key)."""
    key = (id(table), hash_key, attr)
    cached = _sorted.get(key)
    if cached is not None and cached[0] is table:
        return cached[1], cached[2]
    pairs = []
    for item in (table.items.get(hash_key) or {}).values():
        value = item.attrs.get(attr)
        if value is not None and value.type == "S":
            pairs.append(((value.value, item.range_key.value), item))
    pairs.sort(key=lambda p: p[0])
    values = [p[0][0] for p in pairs]
    items = [p[1] for p in pairs]
    if len(items) >= _KEEP_FROM:
        while len(_sorted) >= _KEEP_AT_MOST:
            del _sorted[next(iter(_sorted))]
        _sorted[key] = (table, values, items)
    return values, items


def _in_range(values, comparison, operands):
    """The slice of sorted `values` a key condition keeps."""
    lo, hi = 0, len(values)
    if comparison == "BETWEEN":
        lo = bisect.bisect_left(values, operands[0])
        hi = bisect.bisect_right(values, operands[1])
    elif comparison == "BEGINS_WITH":
        lo = bisect.bisect_left(values, operands[0])
        hi = lo
        while hi < len(values) and values[hi].startswith(operands[0]):
            hi += 1
    elif comparison in ("=", "EQ"):
        lo = bisect.bisect_left(values, operands[0])
        hi = bisect.bisect_right(values, operands[0])
    elif comparison in ("<", "LT"):
        hi = bisect.bisect_left(values, operands[0])
    elif comparison in ("<=", "LE"):
        hi = bisect.bisect_right(values, operands[0])
    elif comparison in (">", "GT"):
        lo = bisect.bisect_right(values, operands[0])
    elif comparison in (">=", "GE"):
        lo = bisect.bisect_left(values, operands[0])
    return lo, max(lo, hi)


def _page_candidates(self, hash_key, args, kwargs):
    """For a query of one partition by a string sort key (the table's or a local index's),
    with no start key and no filter: only the items the key condition keeps, at most one
    more than the limit, found by bisecting the partition's sorted items. None otherwise."""
    named = ("range_comparison", "range_objs", "limit", "exclusive_start_key",
             "scan_index_forward", "projection_expressions", "index_name")
    given = dict(zip(named, args))
    given.update({k: v for k, v in kwargs.items() if k in named})
    comparison = given.get("range_comparison")
    if comparison not in _RANGE or given.get("exclusive_start_key"):
        return None
    if kwargs.get("filter_expression") is not None or kwargs.get("filter_kwargs"):
        return None
    index_name = given.get("index_name")
    if index_name:
        index = next((i for i in self.indexes if i.name == index_name), None)
        if index is None:
            return None
        ranges = [k["AttributeName"] for k in index.schema if k["KeyType"] == "RANGE"]
        if len(ranges) != 1:
            return None
        attr = ranges[0]
    else:
        attr = self.range_key_attr
    operands = [o.value for o in given.get("range_objs") or []]
    if not all(isinstance(o, str) for o in operands):
        return None
    values, items = _sorted_partition(self, hash_key, attr)
    lo, hi = _in_range(values, comparison, operands)
    chosen = items[lo:hi]
    if given.get("scan_index_forward") is False:
        chosen = chosen[::-1]
    limit = given.get("limit")
    return chosen[: limit + 1] if limit else chosen


def query_one_partition(self, hash_key, *args, **kwargs):
    """moto's Table.query, given only the queried partition's items to walk — and for a
    range of a sorted key, only the page's."""
    # (hash_key, range_comparison, range_objs, limit, exclusive_start_key,
    #  scan_index_forward, projection_expressions, index_name, ...): positional or named.
    index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
    if hash_key is None or not self.range_key_attr:
        return _table_query(self, hash_key, *args, **kwargs)
    local = index_name and any(i.name == index_name for i in self.indexes)
    if index_name and not local:
        return _query_global_partition(self, hash_key, index_name, args, kwargs)
    page = _page_candidates(self, hash_key, args, kwargs)
    if page is None:
        partition = self.items.get(hash_key) or {}
        page = list(partition.values())
    self.all_items = lambda: page
    try:
        return _table_query(self, hash_key, *args, **kwargs)
    finally:
        del self.all_items


def _query_global_partition(self, hash_key, index_name, args, kwargs):
    """moto's query of a global index, given only the queried partition's items to walk."""
    hashed = dict(_gsi_hashes(self))
    if index_name not in hashed:
        return _table_query(self, hash_key, *args, **kwargs)
    value = hash_key
    for name, typed in kwargs.get("hash_key_conditions") or []:
        if name == hashed[index_name]:
            value = typed
    bucket = _gsi_members(self).get((index_name, value), {})
    page = [item for hk, rk in list(bucket) if (item := _stored(self, hk, rk)) is not None]
    self.all_items = lambda: page
    try:
        return _table_query(self, hash_key, *args, **kwargs)
    finally:
        del self.all_items


Table.query = query_one_partition


def now_millis():
    return time.time() * 1000


Message.visible = property(lambda self: now_millis() > self.visible_at)
Message.delayed = property(lambda self: now_millis() < self.delayed_until)

_send_message = SQSBackend.send_message
_queue_attributes = Queue.attributes
_fifo_attributes_only = property(
    lambda self: {"ContentBasedDeduplication": "false"} if self.fifo_queue else {}
)


def send_message(self, queue_name, *args, **kwargs):
    """moto's send, without walking the queue for attributes a standard queue does not have
    (requests are handled one at a time, so swapping the property for the call is safe)."""
    if self.get_queue(queue_name).fifo_queue:
        return _send_message(self, queue_name, *args, **kwargs)
    Queue.attributes = _fifo_attributes_only
    try:
        return _send_message(self, queue_name, *args, **kwargs)
    finally:
        Queue.attributes = _queue_attributes


def delete_message(self, receipt_handle):
    """moto's Queue.delete_message, stopping at the message (received messages are the oldest,
    at the front of the queue)."""
    if receipt_handle in self.deleted_messages:
        return
    for i, message in enumerate(self._messages):
        if message.had_receipt_handle(receipt_handle):
            del self._messages[i]
            self.pending_messages.discard(message)
            self.deleted_messages.update(message.all_receipt_handles)
            return
    raise ReceiptHandleIsInvalid()


def retained(self, queue_name, message):
    """moto's retention check, reading the one attribute rather than computing them all."""
    period = int(self.get_queue(queue_name).message_retention_period)
    return period + message.sent_timestamp / 1000 > time.time()


SQSBackend.send_message = send_message
SQSBackend.is_message_valid_based_on_retention_period = retained
Queue.delete_message = delete_message


def _epoch(value):
    """A record's creation time as the service writes it: seconds since the epoch."""
    return calendar.timegm(value.utctimetuple())


def get_records(self):
    """moto's GetRecords, with the records (kept as the service's JSON) written as they are
    rather than walked attribute by attribute through the service's model."""
    limit = self._get_param("Limit") or 1000
    result = self.backend.get_records(self._get_param("ShardIterator"), limit)
    return json.dumps(result, default=_epoch)


DynamoDBStreamsHandler.get_records = get_records


class Hold:
    """One armed hold at a time (see the module's doc)."""

    def __init__(self):
        self.cond = threading.Condition()
        self.armed = None  # (target, match)
        self.held = False
        self.released = False

    def control(self, environ, start_response):
        from urllib.parse import parse_qs

        path = environ.get("PATH_INFO", "")
        query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        with self.cond:
            if path == "/_drill/hold" and query.get("match"):
                self.armed = (query.get("target", ""), query["match"].encode())
                self.held = self.released = False
            elif path == "/_drill/release":
                self.armed = None
                self.released = True
                self.cond.notify_all()
            elif path != "/_drill/held":
                start_response("404 Not Found", [("Content-Type", "application/json")])
                return [b'{"error": "unknown drill control"}']
            body = json.dumps({"armed": self.armed is not None, "held": self.held}).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]

    def take(self, environ):
        """True when this request is the one to hold (the hold is then spent)."""
        with self.cond:
            if self.armed is None:
                return False
            target, match = self.armed
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if not length:
            return False
        body = environ["wsgi.input"].read(length)
        environ["wsgi.input"] = io.BytesIO(body)
        if target not in environ.get("HTTP_X_AMZ_TARGET", "") or match not in body:
            return False
        with self.cond:
            if self.armed != (target, match):
                return False
            self.armed = None
            return True

    def wait(self):
        with self.cond:
            self.held = True
            self.cond.notify_all()
            self.cond.wait_for(lambda: self.released, timeout=120)
            self.held = False


class Busy:
    """How long requests held the emulator, in total and by operation (`GET /_busy`): a
    benchmark reads it before and after a run to see how much of the run the emulator, which
    handles one request at a time, was the bottleneck."""

    def __init__(self):
        self.lock = threading.Lock()
        self.seconds = {}
        self.requests = {}

    def add(self, environ, seconds):
        target = environ.get("HTTP_X_AMZ_TARGET") or environ.get("PATH_INFO", "")
        operation = target.rsplit(".", 1)[-1] or "other"
        with self.lock:
            self.seconds[operation] = self.seconds.get(operation, 0.0) + seconds
            self.requests[operation] = self.requests.get(operation, 0) + 1

    def report(self, start_response):
        with self.lock:
            body = json.dumps({"seconds": self.seconds, "requests": self.requests}).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]


class Serialised:
    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()
        self.hold = Hold()
        self.busy = Busy()

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO", "").startswith("/_drill/"):
            return self.hold.control(environ, start_response)
        if environ.get("PATH_INFO", "") == "/_busy":
            return self.busy.report(start_response)
        held = self.hold.take(environ)
        with self.lock:
            # Drain the body inside the lock so the whole exchange is one critical section.
            started = time.monotonic()
            result = list(self.app(environ, start_response))
            self.busy.add(environ, time.monotonic() - started)
        if held:
            # Handled; nothing has been sent yet (werkzeug writes on the first body chunk).
            self.hold.wait()
        return result


def main():
    p = argparse.ArgumentParser()
    p.add_argument("-H", "--host", default="127.0.0.1")
    p.add_argument("-p", "--port", type=int, default=4566)
    a = p.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(a.host, a.port, Serialised(app), threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()

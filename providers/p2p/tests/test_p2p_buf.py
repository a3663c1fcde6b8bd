# SPDX-License-Identifier: (GPL-2.0 OR Linux-OpenIB)
"""
Tests for PCI peer-to-peer memory through the buffer API: a parent domain
allocated with IBV_PARENT_DOMAIN_INIT_ATTR_P2P_MEM makes ibv_alloc_buf() take
zeroed memory from a P2P memory provider of the kernel (/dev/p2pmem/<pci-name>)
as a dma-buf, registered by ibv_reg_buf_mr() / ibv_reg_mr_ex() as a dma-buf MR.

Each test runs on every provider the kernel publishes, and on "the nearest
provider" (no name). The tests skip when the kernel has no P2P provider at
all, except the one that checks that case is refused.
"""
import ctypes
import errno
import fcntl
import os
import resource
import struct
import unittest

from pyverbs.pyverbs_error import PyverbsRDMAError
from pyverbs.pd import PD, ParentDomain, ParentDomainInitAttr
from pyverbs.mr import Buf, BufMR, MREx
from pyverbs.libibverbs_enums import ibv_access_flags, ibv_wr_opcode, \
    ibv_parent_domain_init_attr_mask
from tests.base import PyverbsAPITestCase, RCResources, RDMATestCase
import tests.utils as u


P2PMEM_DIR = '/dev/p2pmem'
PAGE_SIZE = resource.getpagesize()

# <linux/p2pmem.h>
P2PMEM_MAP_BUS_ADDR = 1
P2PMEM_MAP_HOST_BRIDGE = 2
P2PMEM_MAP_CPU = 3
_ATTACH_QUERY_FMT = 'iIIIII64s'
P2PMEM_IOC_ATTACH_QUERY = (3 << 30) | \
    (struct.calcsize(_ATTACH_QUERY_FMT) << 16) | (0xB9 << 8) | 0x02

ACCESS_ALL = (ibv_access_flags.IBV_ACCESS_LOCAL_WRITE |
              ibv_access_flags.IBV_ACCESS_REMOTE_WRITE |
              ibv_access_flags.IBV_ACCESS_REMOTE_READ)


def p2p_providers():
    """The P2P memory providers the kernel publishes, by PCI name."""
    try:
        return sorted(n for n in os.listdir(P2PMEM_DIR) if not n.startswith('.'))
    except FileNotFoundError:
        return []


def named_providers():
    """The providers, or a skip where the kernel has none."""
    providers = p2p_providers()
    if not providers:
        raise unittest.SkipTest(f'The kernel has no P2P memory provider '
                                f'({P2PMEM_DIR} is empty or missing)')
    return providers


def p2p_choices():
    """Every provider by name, then None: the one nearest to the device."""
    return named_providers() + [None]


def attachments(provider, dmabuf_fd):
    """
    The attachments of a dma-buf as the provider's exporter recorded them
    (P2PMEM_IOC_ATTACH_QUERY): a list of (importer, mode). Fails with EINVAL
    when the dma-buf is not memory of this provider.
    """
    found = []
    with open(os.path.join(P2PMEM_DIR, provider), 'rb') as node:
        for index in range(64):
            arg = bytearray(struct.pack(_ATTACH_QUERY_FMT, dmabuf_fd, index,
                                        0, 0, 0, 0, b''))
            try:
                fcntl.ioctl(node, P2PMEM_IOC_ATTACH_QUERY, arg)
            except OSError as ex:
                if ex.errno == errno.ENOENT:
                    return found
                raise
            fields = struct.unpack(_ATTACH_QUERY_FMT, arg)
            found.append((fields[6].split(b'\0')[0].decode(), fields[2]))
    return found


def buf_owner(buf):
    """
    (provider, attachments) of the one provider whose dma-buf the buffer is,
    or (None, None) when it is not a dma-buf of any provider (host memory)
    or, which must not happen, of several.
    """
    try:
        fd = buf.export_dmabuf_fd()
    except PyverbsRDMAError as ex:
        if ex.error_code == errno.ENODATA:
            return None, None
        raise
    try:
        owners = {}
        for name in p2p_providers():
            try:
                owners[name] = attachments(name, fd)
            except OSError as ex:
                if ex.errno != errno.EINVAL:
                    raise
        if len(owners) != 1:
            return None, None
        return owners.popitem()
    finally:
        os.close(fd)


def p2p_pd(ctx, p2p_mem):
    """A base PD and a parent domain whose buffers are P2P memory."""
    base_pd = PD(ctx)
    mask = ibv_parent_domain_init_attr_mask.IBV_PARENT_DOMAIN_INIT_ATTR_P2P_MEM
    attr = ParentDomainInitAttr(pd=base_pd, comp_mask=mask, p2p_mem=p2p_mem)
    return base_pd, ParentDomain(ctx, attr=attr)


class P2PBufRC(RCResources):
    """RC resources whose data buffer is P2P memory from ibv_alloc_buf()."""
    def __init__(self, *args, p2p_mem=None, mr_offset=0,
                 via_reg_mr_ex=False, **kwargs):
        self.p2p_mem = p2p_mem
        self.mr_offset = mr_offset
        self.via_reg_mr_ex = via_reg_mr_ex
        self.base_pd = None
        self.data_buf = None
        super().__init__(*args, **kwargs)

    def create_pd(self):
        self.base_pd, self.pd = p2p_pd(self.ctx, self.p2p_mem)

    def create_mr(self):
        # The MR is a sub-range of the buffer: one page in, a page left over.
        self.data_buf = Buf(self.pd, self.mr_offset + self.msg_size + PAGE_SIZE)
        if self.via_reg_mr_ex:
            self.mr = MREx(self.pd, length=self.msg_size, access=ACCESS_ALL,
                           buf=self.data_buf,
                           address=self.data_buf.addr + self.mr_offset)
        else:
            self.mr = BufMR(self.pd, self.data_buf, self.msg_size, ACCESS_ALL,
                            offset=self.mr_offset)

    def create_qp_attr(self):
        attr = super().create_qp_attr()
        attr.qp_access_flags = ACCESS_ALL
        return attr


class P2PBufAPITest(PyverbsAPITestCase):
    """Allocation, registration and the refusals, on one device."""

    def check_is_p2p(self, provider, buf):
        """
        The buffer is memory of the provider asked for (of exactly one
        provider when none was named), not host memory, and its one
        attachment, the device's MR, got the mode the kernel gives such a
        device.
        """
        owner, atts = buf_owner(buf)
        self.assertIsNotNone(owner, 'the buffer is not P2P memory')
        if provider:
            self.assertEqual(owner, provider)
        self.assertEqual(len(atts), 1, f'attachments on {owner}: {atts}')
        # The exporter names a CPU importer (rxe, siw) by the device's own
        # name, a DMA importer by its PCI function.
        importer, mode = atts[0]
        if importer == self.dev_name:
            self.assertEqual(mode, P2PMEM_MAP_CPU)
        else:
            self.assertIn(mode, (P2PMEM_MAP_BUS_ADDR, P2PMEM_MAP_HOST_BRIDGE))

    def test_p2p_buf_alloc_zeroed_registered(self):
        """Allocation: zeroed P2P memory, registered whole and in sub-ranges,
        by ibv_reg_buf_mr() and by ibv_reg_mr_ex(), the data visible through
        both MRs; reallocation after a free is zeroed again."""
        size = 3 * PAGE_SIZE
        for provider in p2p_choices():
            with self.subTest(provider=provider):
                base_pd, pd = p2p_pd(self.ctx, provider)
                for _ in range(2):
                    buf = Buf(pd, size)
                    self.assertEqual(buf.addr % PAGE_SIZE, 0)
                    self.assertEqual(ctypes.string_at(buf.addr, size),
                                     bytes(size), 'P2P memory is not zeroed')
                    whole = BufMR(pd, buf, size, ACCESS_ALL)
                    self.check_is_p2p(provider, buf)
                    first = BufMR(pd, buf, PAGE_SIZE, ACCESS_ALL)
                    middle = MREx(pd, length=PAGE_SIZE, access=ACCESS_ALL,
                                  buf=buf, address=buf.addr + PAGE_SIZE)
                    last = BufMR(pd, buf, PAGE_SIZE - 8, ACCESS_ALL,
                                 offset=2 * PAGE_SIZE + 8)
                    self.assertEqual(len({whole.lkey, first.lkey, middle.lkey,
                                          last.lkey}), 4)
                    middle.write('m' * PAGE_SIZE, PAGE_SIZE)
                    last.write('l' * 16, 16)
                    self.assertEqual(whole.read(PAGE_SIZE, PAGE_SIZE),
                                     b'm' * PAGE_SIZE)
                    self.assertEqual(whole.read(16, 2 * PAGE_SIZE + 8),
                                     b'l' * 16)
                    buf.close()
                pd.close()
                base_pd.close()

    def test_p2p_buf_range_errors(self):
        """Registration outside the buffer, or with another PD, is EINVAL."""
        for provider in p2p_choices():
            with self.subTest(provider=provider):
                base_pd, pd = p2p_pd(self.ctx, provider)
                buf = Buf(pd, PAGE_SIZE)
                for pd_, length, offset in ((pd, 2 * PAGE_SIZE, 0),
                                            (pd, PAGE_SIZE, 8),
                                            (base_pd, PAGE_SIZE, 0)):
                    with self.assertRaises(PyverbsRDMAError) as cm:
                        BufMR(pd_, buf, length, ACCESS_ALL, offset=offset)
                    self.assertEqual(cm.exception.error_code, errno.EINVAL)
                buf.close()
                pd.close()
                base_pd.close()

    def test_p2p_buf_zero_size(self):
        """A zero-sized P2P buffer is EINVAL."""
        for provider in p2p_choices():
            with self.subTest(provider=provider):
                base_pd, pd = p2p_pd(self.ctx, provider)
                with self.assertRaises(PyverbsRDMAError) as cm:
                    Buf(pd, 0)
                self.assertEqual(cm.exception.error_code, errno.EINVAL)
                pd.close()
                base_pd.close()

    def test_p2p_buf_exhausted_no_host_fallback(self):
        """More than the provider holds: the kernel's errno, never host
        memory; what was allocated before stays P2P memory."""
        for provider in named_providers():
            with self.subTest(provider=provider):
                base_pd, pd = p2p_pd(self.ctx, provider)
                with self.assertRaises(PyverbsRDMAError) as cm:
                    Buf(pd, 1 << 40)
                self.assertIn(cm.exception.error_code,
                              (errno.ENOMEM, errno.EDQUOT))
                buf = Buf(pd, PAGE_SIZE)
                mr = BufMR(pd, buf, PAGE_SIZE, ACCESS_ALL)
                self.check_is_p2p(provider, buf)
                buf.close()
                pd.close()
                base_pd.close()

    def test_p2p_buf_unknown_provider(self):
        """A provider the kernel does not publish: ENOENT; a name that is
        not a node of /dev/p2pmem: EINVAL. No parent domain either way."""
        base_pd = PD(self.ctx)
        mask = ibv_parent_domain_init_attr_mask.IBV_PARENT_DOMAIN_INIT_ATTR_P2P_MEM
        for name, err in (('0000:ff:1f.7', errno.ENOENT),
                          (f'{P2PMEM_DIR}/0000:ff:1f.7', errno.ENOENT),
                          ('../null', errno.EINVAL), ('', errno.EINVAL)):
            with self.subTest(name=name):
                attr = ParentDomainInitAttr(pd=base_pd, comp_mask=mask,
                                            p2p_mem=name)
                with self.assertRaises(PyverbsRDMAError) as cm:
                    ParentDomain(self.ctx, attr=attr)
                self.assertEqual(cm.exception.error_code, err)
        base_pd.close()


class P2PBufNoProviderTest(PyverbsAPITestCase):
    """Runs where the kernel publishes no P2P memory provider."""

    def test_p2p_buf_no_provider(self):
        """Where the kernel has no P2P provider, the nearest one is ENODEV."""
        if p2p_providers():
            raise unittest.SkipTest('The kernel has P2P memory providers')
        with self.assertRaises(PyverbsRDMAError) as cm:
            p2p_pd(self.ctx, None)
        self.assertEqual(cm.exception.error_code, errno.ENODEV)


class P2PBufTrafficTest(RDMATestCase):
    """RC traffic whose data lives in P2P memory at both ends, each MR a
    sub-range of its buffer."""

    def run_on_each_provider(self, traffic, send_op, via_reg_mr_ex=False):
        for provider in p2p_choices():
            with self.subTest(provider=provider):
                self.create_players(P2PBufRC, p2p_mem=provider,
                                    mr_offset=PAGE_SIZE,
                                    via_reg_mr_ex=via_reg_mr_ex)
                traffic(**self.traffic_args, send_op=send_op)
                for player in (self.client, self.server):
                    owner, _ = buf_owner(player.data_buf)
                    self.assertIsNotNone(owner, 'the data is not in P2P memory')
                    if provider:
                        self.assertEqual(owner, provider)
                self.client.ctx.close()
                self.server.ctx.close()

    def test_p2p_buf_rc_send(self):
        """RC SEND/RECV between P2P buffers."""
        self.run_on_each_provider(u.traffic, ibv_wr_opcode.IBV_WR_SEND)

    def test_p2p_buf_rc_send_reg_mr_ex(self):
        """RC SEND/RECV, MRs registered through ibv_reg_mr_ex()."""
        self.run_on_each_provider(u.traffic, ibv_wr_opcode.IBV_WR_SEND,
                                  via_reg_mr_ex=True)

    def test_p2p_buf_rc_rdma_write(self):
        """RC RDMA WRITE into a P2P buffer."""
        self.run_on_each_provider(u.rdma_traffic,
                                  ibv_wr_opcode.IBV_WR_RDMA_WRITE)

    def test_p2p_buf_rc_rdma_read(self):
        """RC RDMA READ from a P2P buffer."""
        self.run_on_each_provider(u.rdma_traffic,
                                  ibv_wr_opcode.IBV_WR_RDMA_READ)

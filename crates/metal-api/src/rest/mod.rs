//! The REST API: every v1 operation (paths, verbs and roles as in metal-stack's reference). Each
//! resource's file declares its routes in the [`table`] next to their handlers, which extract
//! the request, call one app function and answer; this module assembles the table and names
//! the access levels the routes require.

pub mod extract;
pub mod response;
pub mod table;

mod audit;
mod firewall;
pub(crate) mod firmware;
mod fsl;
mod image;
mod ip;
mod issues;
mod machine;
mod network;
mod partition;
mod project;
mod reservation;
mod sic;
mod size;
mod switch;
mod system;
mod tenant;
mod vpn;

use self::table::RouteTable;
use crate::auth::{Access, Role};

const PUBLIC: Access = Access::Public;
const AUTH: Access = Access::Authenticated;
const VIEW: Access = Access::Role(Role::View);
const EDIT: Access = Access::Role(Role::Edit);
const ADMIN: Access = Access::Role(Role::Admin);

/// Every v1 route of this server, in the order they have always been declared (the order of
/// [`RouteTable::operations`], which the auth test walks).
pub fn routes() -> RouteTable {
    let mut t = RouteTable::default();
    image::routes(&mut t);
    size::routes(&mut t);
    sic::routes(&mut t);
    reservation::routes(&mut t);
    partition::routes(&mut t);
    fsl::routes(&mut t);
    project::routes(&mut t);
    tenant::routes(&mut t);
    network::routes(&mut t);
    ip::routes(&mut t);
    machine::routes(&mut t);
    firewall::routes(&mut t);
    machine::action_routes(&mut t);
    partition::capacity_routes(&mut t);
    issues::routes(&mut t);
    switch::routes(&mut t);
    audit::routes(&mut t);
    system::routes(&mut t);
    firmware::routes(&mut t);
    vpn::routes(&mut t);
    t
}

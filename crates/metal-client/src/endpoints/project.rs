//! Projects (`/v1/project`) and tenants (`/v1/tenant`).

use metal_domain::project::{Project, ProjectFindRequest, Tenant, TenantFindRequest};

use super::id_path;
use crate::{Client, Result};

const PROJECTS: &str = "v1/project";
const TENANTS: &str = "v1/tenant";

impl Client {
    /// `GET /v1/project`
    pub async fn list_projects(&self) -> Result<Vec<Project>> {
        self.get(PROJECTS).await
    }

    /// `GET /v1/project/{id}`
    pub async fn get_project(&self, id: &str) -> Result<Project> {
        self.get(&id_path("project", id)).await
    }

    /// `POST /v1/project/find`
    pub async fn find_projects(&self, req: &ProjectFindRequest) -> Result<Vec<Project>> {
        self.post("v1/project/find", req).await
    }

    /// `PUT /v1/project`
    pub async fn create_project(&self, req: &Project) -> Result<Project> {
        self.put(PROJECTS, req).await
    }

    /// `POST /v1/project` (the request carries `meta.version` for optimistic locking)
    pub async fn update_project(&self, req: &Project) -> Result<Project> {
        self.post(PROJECTS, req).await
    }

    /// `DELETE /v1/project/{id}`
    pub async fn delete_project(&self, id: &str) -> Result<Project> {
        self.delete(&id_path("project", id)).await
    }

    /// `GET /v1/tenant`
    pub async fn list_tenants(&self) -> Result<Vec<Tenant>> {
        self.get(TENANTS).await
    }

    /// `GET /v1/tenant/{id}`
    pub async fn get_tenant(&self, id: &str) -> Result<Tenant> {
        self.get(&id_path("tenant", id)).await
    }

    /// `POST /v1/tenant/find`
    pub async fn find_tenants(&self, req: &TenantFindRequest) -> Result<Vec<Tenant>> {
        self.post("v1/tenant/find", req).await
    }

    /// `PUT /v1/tenant`
    pub async fn create_tenant(&self, req: &Tenant) -> Result<Tenant> {
        self.put(TENANTS, req).await
    }

    /// `POST /v1/tenant`
    pub async fn update_tenant(&self, req: &Tenant) -> Result<Tenant> {
        self.post(TENANTS, req).await
    }

    /// `DELETE /v1/tenant/{id}`
    pub async fn delete_tenant(&self, id: &str) -> Result<Tenant> {
        self.delete(&id_path("tenant", id)).await
    }
}
